#!/bin/sh
# Checks (or with --fix, applies) .clang-format on every C++ source of the project.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files --cached --others --exclude-standard -- '*.h' '*.cpp' 2>/dev/null || find . -name '*.h' -o -name '*.cpp' | grep -v '^./build')
[ -n "$files" ] || exit 0
if [ "${1:-}" = "--fix" ]; then
  clang-format -i $files
  exit 0
fi
bad=""
for f in $files; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad="$bad $f"; fi
done
if [ -n "$bad" ]; then
  echo "format check failed; run 'make format' to fix:" >&2
  for f in $bad; do echo "  $f" >&2; done
  exit 1
fi
echo "format check: $(echo $files | wc -w) files clean"
