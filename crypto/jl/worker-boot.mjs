// Worker-thread bootstrap: registers tsx's loader in this thread, then loads the TypeScript
// worker (crypto/jl/worker.ts). Plain JavaScript so it runs without a loader.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
