// Imported first by main.ts, before any schema exists: zod probes `new Function` to JIT its parsers, and under the
// dashboard's CSP (no 'unsafe-eval') that probe is reported as a script-src violation. Parse without JIT instead.
import { z } from 'zod';

z.config({ jitless: true });
