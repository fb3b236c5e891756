#pragma once
// Waiting for a condition in tests: poll it until it holds or a deadline passes. Tests wait
// for conditions, never for fixed sleeps, so a busy machine only makes them slower.

#include <chrono>
#include <optional>
#include <thread>

namespace trellis::test_support {

// Polls `condition` every `poll` until it holds (returns the time it took) or `limit` passes
// (returns nullopt). The condition is checked once more at the deadline.
template <typename F>
std::optional<std::chrono::milliseconds> time_until(
    F&& condition, std::chrono::milliseconds limit,
    std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const auto deadline = t0 + limit;
  while (true) {
    const bool last_chance = Clock::now() >= deadline;
    if (condition())
      return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    if (last_chance) return std::nullopt;
    std::this_thread::sleep_for(poll);
  }
}

// True once `condition` holds, false if it still does not after `limit`.
template <typename F>
bool eventually(F&& condition, std::chrono::milliseconds limit = std::chrono::seconds(15),
                std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  return time_until(condition, limit, poll).has_value();
}

}  // namespace trellis::test_support
