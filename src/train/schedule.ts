/** The LR schedules moved to the platform-free core (./core/schedule.ts); this path stays for existing imports. */
export * from './core/schedule.js';
