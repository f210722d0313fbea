#!/usr/bin/env bash
# Formatting and static analysis, as CI runs them after the dev build:
#   - clang-format --dry-run --Werror on every C++ file of ours (.clang-format);
#   - clang-tidy (.clang-tidy) on the C++ sources a change touches, with the dev build's
#     compile_commands.json and a header filter that matches our headers wherever the checkout is.
#
#   scripts/lint.sh                 what changed since SG_LINT_BASE (default: HEAD~1)
#   scripts/lint.sh --all           clang-tidy on every source (slow: ~15 s a file)
#   scripts/lint.sh --fix-format    rewrite files in place instead of checking them
#
# Exit status: 0 clean, 1 a finding (printed as file:line:col), 2 a usage or setup error.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=changed
case ${1:-} in
  "") ;;
  --all) mode=all ;;
  --fix-format) mode=fix ;;
  -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "scripts/lint.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

for tool in clang-format clang-tidy; do
  if ! command -v "$tool" >/dev/null; then
    echo "scripts/lint.sh: $tool is missing; run scripts/install-deps.sh --test" >&2
    exit 2
  fi
done

# Our C++: everything tracked under the source folders (not build output, not generated files).
mapfile -t all_files < <(git ls-files -- '*.cpp' '*.h' | grep -E '^(cli|common|config|daemon|tests|tools)/' | grep -v '^tests/data/')

if [[ $mode == fix ]]; then
  clang-format -i "${all_files[@]}"
  exit 0
fi

status=0
echo "--- clang-format: ${#all_files[@]} files"
if ! clang-format --dry-run --Werror "${all_files[@]}"; then
  echo "scripts/lint.sh: formatting differs from .clang-format; run scripts/lint.sh --fix-format" >&2
  status=1
fi

db=build/dev/compile_commands.json
if [[ ! -f $db ]]; then
  echo "scripts/lint.sh: $db is missing; configure and build first: cmake --preset dev && cmake --build --preset dev" >&2
  exit 2
fi
if [[ $mode == all ]]; then
  mapfile -t sources < <(printf '%s\n' "${all_files[@]}" | grep -E '^(cli|common|config|daemon|tools)/.*\.cpp$')
else
  base=${SG_LINT_BASE:-HEAD~1}
  changed=()
  if git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    # A changed header brings in the sources of its folder, which include it.
    mapfile -t changed < <(git diff --name-only --diff-filter=d "$base" -- '*.cpp' '*.h' |
                             grep -E '^(cli|common|config|daemon|tools)/' || true)
  else
    echo "scripts/lint.sh: no commit '$base' here (a shallow clone?): clang-tidy has no change to" \
      "check; fetch more history or set SG_LINT_BASE, or run scripts/lint.sh --all" >&2
  fi
  mapfile -t sources < <(
    for f in ${changed[@]+"${changed[@]}"}; do
      if [[ $f == *.cpp ]]; then echo "$f"; else git ls-files -- "$(dirname "$f")/*.cpp"; fi
    done | sort -u | grep -E '\.cpp$' || true)
fi
# Only translation units the build knows (a tool's main may not be in this preset).
mapfile -t sources < <(for f in ${sources[@]+"${sources[@]}"}; do
  grep -q "\"file\": \"$PWD/$f\"" "$db" && echo "$f"; done || true)
echo "--- clang-tidy: ${#sources[@]} files"
if ((${#sources[@]} > 0)); then
  # Our headers, wherever this checkout is; not /usr/include/boost/config and the like.
  filter="^$PWD/(cli|common|config|daemon)/"
  if ! printf '%s\n' "${sources[@]}" |
      xargs -P "$(nproc)" -n 4 clang-tidy -p build/dev --quiet --header-filter="$filter" 2>/dev/null; then
    echo "scripts/lint.sh: clang-tidy found problems (above); fix them or, where a check is wrong, say why in a NOLINT comment" >&2
    status=1
  fi
fi
exit "$status"
