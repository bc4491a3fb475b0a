/**
 * zstd compression and file-system calls share libuv's thread pool (4 threads by default):
 * with compressions queued, small-file reads wait behind them. More threads let both cores stay
 * busy. It must be set before the pool's first use, so entry points import this first.
 */
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '8';

export {};
