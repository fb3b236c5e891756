#pragma once
// Component loggers ("controller", "api", "reconciler", "osl", "vxlan", "overlay", ...). All
// share one stderr sink, one line format and the level set by set_log_level. Include
// <spdlog/spdlog.h> in the .cpp that logs; this header stays light.

#include <memory>
#include <string_view>

namespace spdlog {
class logger;
}

namespace trellis {

// The logger for `component`, created on first use. Thread-safe.
spdlog::logger& log(std::string_view component);

// "trace", "debug", "info", "warn", "error", "critical" or "off". InvalidArgumentError.
void set_log_level(std::string_view level);

}  // namespace trellis
