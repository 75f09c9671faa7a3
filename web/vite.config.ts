/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The dev server forwards API calls to a running agent, e.g.
// XP_API=http://127.0.0.1:48733 npm run dev (the demo prints node-a's address).
const apiTarget = process.env.XP_API ?? 'http://127.0.0.1:62416';

export default defineConfig({
  // Relative asset URLs, so the page works unchanged under a reverse proxy's sub-path.
  base: './',
  plugins: [react()],
  build: {
    // Shipped inside the Python package; committed, so it must be lean and reproducible.
    outDir: '../xpagent/api/static',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    proxy: { '/api': { target: apiTarget, changeOrigin: true } },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    css: false,
    restoreMocks: true,
    // Times in assertions are UTC whatever the machine's zone.
    env: { TZ: 'UTC' },
  },
});
