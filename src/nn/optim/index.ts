/** Optimizers and learning-rate schedules. */
export * from './lr-schedule.js';
export * from './sgd.js';
