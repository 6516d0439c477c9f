/**
 * Vite build of the web UI: runtime/web → runtime/web/dist, served by the
 * runtime (runtime/http/web.ts). `npm run web:dev` runs Vite's dev server with
 * hot reload, proxying /api and /v1 to a runtime on CONCLAVE_DEV_API
 * (default http://127.0.0.1:8700).
 */
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
const api = process.env.CONCLAVE_DEV_API ?? 'http://127.0.0.1:8700';

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  // The UI imports the typed client from shared/ (outside this folder).
  server: { fs: { allow: [repo] }, proxy: { '/api': { target: api, changeOrigin: false }, '/v1': api } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    chunkSizeWarningLimit: 800,
    reportCompressedSize: false,
  },
});
