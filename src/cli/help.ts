/**
 * `--help` text of the commands whose options are not a training config (validate, infer, fewshot, models,
 * backends, demo); train, finetune and convert keep theirs next to their code. Invariant: every option a
 * command reads is listed in its help.
 */
import { FINETUNE_HELP } from './finetune.js';

/** Loading options shared by validate and infer (what was loaded, the head included, goes to stderr). */
const PREDICT_LOAD_HELP = `  --model NAME, --num_classes N   the model of a plain weight file; a training checkpoint brings its
                     own, and naming another one is an error (never silently ignored)
  --allow_random_head  predict even when the file cannot supply the head (other class count, or none):
                     refused otherwise, since a random head's predictions are meaningless
  --allow_nonfinite  load weights holding NaN/Inf (refused otherwise, naming the first damaged tensor)`;

export const VALIDATE_HELP = `bit-ts validate --ckpt_path FILE (--data_dir DIR | --dataset mnist) [-c CONFIG.yaml] [--KEY VALUE ...] [--json]
  Evaluate a checkpoint: prints Top_1_Accuracy, Top_5_Accuracy (fractions, as MindCV's validate.py) and the
  mean cross-entropy loss on the config's validation split.
  --ckpt_path FILE   a bit-ts training checkpoint (brings its own config, model and class names), or any
                     weight file (.npz / .safetensors / .ckpt) together with -c CONFIG or --model NAME
  --data_dir DIR     the data to score on (a directory or .tar); required unless --dataset mnist is given
                     explicitly, the -c file names data_dir/dataset, or a training checkpoint's stored
                     config is used (no -c)
  --dataset NAME     mnist | cifar10 | imagefolder | imagenet (default: detected from --data_dir)
  -c CONFIG.yaml     config to use instead of the checkpoint's stored one
  --val_split S      split folder name (e.g. val, test) or held-out fraction of train
  --KEY VALUE        any train config key (see bit-ts train --help), e.g. --eval_batch_size, --backend
  --json             print one JSON object instead of text
${PREDICT_LOAD_HELP}
  A missing, unreadable or corrupt checkpoint is reported as such (exit 1); NaN/Inf outputs exit 3.`;

export const INFER_HELP = `bit-ts infer --ckpt_path FILE [-c CONFIG.yaml | --model NAME --num_classes N] IMAGE... [--json]
  Top-5 labels with softmax probabilities for each JPEG / PNG image, preprocessed with the config's
  evaluation transform.
  --ckpt_path FILE   a bit-ts training checkpoint (labels are its class names), or any weight file with
                     -c CONFIG or --model NAME (labels are class indices)
  -c CONFIG.yaml     config to use instead of the checkpoint's stored one
  --KEY VALUE        any train config key, e.g. --image_resize, --crop_pct, --backend
  --json             print JSON instead of text
${PREDICT_LOAD_HELP}
  NaN/Inf outputs for any image exit 3.`;

export const FEWSHOT_HELP = `bit-ts fewshot [finetune options] [--shots 1,5,10] [--seeds 5] [--ckpt_save_dir DIR]
  The paper's few-shot protocol: for every k, fine-tune (BiT-HyperRule) on k examples per class drawn with
  seeds 0..seeds-1 and report the median and range of Top-1 on the held-out split; results also go to
  DIR/fewshot.json (default DIR: runs/fewshot, one run folder per k and seed).
  --shots LIST       k values (default 1,5,10)
  --seeds N          draws per k (default 5)
  --ckpt_save_dir DIR  root of the per-run folders (default runs/fewshot)
  --progress MODE    progress display of each run (default none)
  Every finetune option applies:
${FINETUNE_HELP.split('\n').slice(1).join('\n')}`;

export const MODELS_HELP = `bit-ts models [--json]
  The model zoo: name, parameters (with and without the 1000-class head) and GFLOPs per image.
  --json   print JSON`;

export const BACKENDS_HELP = `bit-ts backends [--json] [--stats [--backend NAME] [--model M] [--batch N] [--px P] [--steps S]]
  Which compute backends run on this machine (probed), which one is the default, and why the others do not.
  --json   print JSON
  --stats  run S training steps (default 3) of model M (default bit-tiny) at batch N x P px (default 2 x 32) on
           NAME (default gpujs-webgpu where it runs) and print the last step's time, kernel launches, uploads and
           readbacks with their bytes (device residency: uploads = batch + labels, readbacks = 1 on webgpu)`;

export const DEMO_HELP = `bit-ts demo [--out DIR] [--backend NAME] [--progress auto|bar|plain|none]   (npm start)
  BiT transfer vs training from scratch on the embedded MNIST: upstream on digits 0-4, HyperRule transfer
  to k-shot tasks on digits 5-9, the same model from scratch; prints the table and where the plots are.
  --out DIR        run folder (default runs/demo)
  --backend NAME   compute backend (default: the fastest available)
  --progress MODE  progress display (default auto)`;

/** `bit-ts worker` (experiments/queue/command.ts reads these options; README "Many machines"). */
export const WORKER_HELP = `bit-ts worker --queue redis://HOST:PORT/DB --store DIR [--concurrency N] [--quick] [--work DIR] [--data DIR] [--threads N]
  Take reproduction runs from the queue (filled by bit-ts reproduce <what> --queue URL --store DIR) and run
  them through src/train, writing checkpoints and result JSONs into DIR (a folder every machine mounts).
  --queue URL        the Redis of the queue (redis://HOST:PORT/DB)
  --store DIR        the shared store (DIR/results: result JSONs; DIR/runs: run folders and checkpoints)
  --concurrency N    worker processes on this machine (default 1; threads are split between them)
  --quick            the --quick protocol's queue (as given to reproduce)
  --work DIR         local folder for the decoded data caches (default as reproduce)
  --data DIR         the shared data (default ../shared/data)
  --threads N        wasm threads per worker process (default: all cores / N)
  --settings FILE    protocol overrides (JSON over FULL / QUICK), as given to reproduce
  --lock_ms MS       BullMQ job lock (default 30000): a killed worker's run moves on about this long after
  --idle_exit_ms MS  exit after the queue has been empty this long (default 0: run until SIGTERM / Ctrl-C)
  SIGTERM / Ctrl-C: the current run checkpoints after its step and goes back to the queue; then it exits.`;
