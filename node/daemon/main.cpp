// trellisd: the Trellis node daemon. See node/daemon/daemon.h and docs/operations.md.

#include <cstdio>
#include <exception>

#include "common/error.h"
#include "node/daemon/config.h"
#include "node/daemon/daemon.h"

int main(int argc, char** argv) {
  using namespace trellis::node;
  try {
    auto config = parse_command_line(argc, argv, version());
    if (!config) return 0;
    Daemon daemon(std::move(*config));
    daemon.start();
    daemon.run(/*handle_signals=*/true);
    return 0;
  } catch (const RemovedFromClusterError& e) {
    std::fprintf(stderr, "trellisd: %s\n", e.what());
    return 3;
  } catch (const trellis::Error& e) {
    std::fprintf(stderr, "trellisd: %s\n", e.what());
    return e.kind() == trellis::ErrorKind::kInvalidArgument ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trellisd: %s\n", e.what());
    return 1;
  }
}
