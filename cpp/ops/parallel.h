// Splitting an op's work over the core's thread pool. Every op with simple, independent pieces
// of work (elementwise maps, row copies, planes) goes through these two helpers: at most
// rc.max_threads threads, inline when there is one piece or no pool, and no new piece started
// once the run is aborted.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace fcn {

// body(chunk, thread) for chunk in [0, chunks): on the pool, or on this thread when there is
// only one chunk or no pool. The body checks rc.aborted() itself when that matters.
template <typename Body>
void run_chunks(const RunControl& rc, int64_t chunks, const Body& body) {
  if (rc.pool && chunks > 1) {
    rc.pool->parallel_for(chunks, rc.max_threads, body);
  } else {
    for (int64_t c = 0; c < chunks; ++c) body(c, 0);
  }
}

// fn(chunk) for chunk in [0, chunks), skipping those not yet started once the run is aborted.
// Returns false when it was aborted.
template <typename Fn>
bool for_chunks(const RunControl& rc, int64_t chunks, const Fn& fn) {
  run_chunks(rc, chunks, [&](int64_t c, int) {
    if (!rc.aborted()) fn(c);
  });
  return !rc.aborted();
}

}  // namespace fcn
