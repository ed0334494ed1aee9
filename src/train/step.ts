/** The step moved to the platform-free core (./core/step.ts); this path stays for existing imports. */
export * from './core/step.js';
