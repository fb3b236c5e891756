#pragma once
// The node tests use the shared TempDir (tests/common/temp_dir.h) under their own namespace.

#include "tests/common/temp_dir.h"

namespace trellis::node::testing {

using test_support::TempDir;

}  // namespace trellis::node::testing
