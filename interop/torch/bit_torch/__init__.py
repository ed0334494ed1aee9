"""bit_torch: the PyTorch side of bit-ts's export (`bit-ts export-torch`).

An export folder holds plan.json (the network, layer by layer), model.safetensors (timm-named weights),
recipe.json (optimizer, schedule, batch, MixUp, augmentation, seed) and data.json (the exact image lists).
This package rebuilds the same model from the plan (state-dict names identical to bit-ts's), trains it from
the recipe with DistributedDataParallel (torchrun-compatible: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT), and writes bit-ts-loadable safetensors checkpoints and metrics.jsonl in bit-ts's schema.
Dependencies: torch, torchvision (numpy, Pillow come with them); nothing else.
"""

PLAN_FORMAT = "bit-ts-plan-v1"
RECIPE_FORMAT = "bit-ts-recipe-v1"
DATA_FORMAT = "bit-ts-data-v1"
CHECKPOINT_FORMAT = "bit-ts-checkpoint-v1"
