#!/usr/bin/env bash
# `cdk deploy` of the CDK app in the current directory as the workflows run it:
#   cdk/scripts/cdk-deploy.sh <version>
# STAGE names the stack; FLEETMEDIC_CONTEXT (a repository variable, passed through env:, never expanded into
# the script text) may only hold `-c key=value` pairs: it is split on whitespace without globbing, and anything
# else (another cdk option such as --app, which runs a command) is refused.
set -euo pipefail
version="${1:?usage: cdk-deploy.sh <version>}"
stage="${STAGE:?STAGE is not set}"
[[ "$stage" =~ ^[a-z][a-z0-9-]{0,30}$ ]] || { echo "::error::STAGE '$stage' is not a stage name" >&2; exit 1; }
[[ "$version" =~ ^[0-9a-f]{40}$ ]] || { echo "::error::version '$version' is not a full commit sha" >&2; exit 1; }

context=()
read -r -a words <<< "${FLEETMEDIC_CONTEXT:-}" || true
for ((i = 0; i < ${#words[@]}; i += 2)); do
  flag="${words[i]}" pair="${words[i + 1]:-}"
  if [ "$flag" != "-c" ] || ! [[ "$pair" =~ ^[A-Za-z][A-Za-z0-9]*=[^[:space:]]*$ ]]; then
    echo "::error::FLEETMEDIC_CONTEXT may only hold '-c key=value' pairs; refused near '$flag $pair'" >&2
    exit 1
  fi
  context+=(-c "$pair")
done

npx cdk deploy "Fleetmedic-$stage" --require-approval never --no-notices \
  -c stage="$stage" -c version="$version" "${context[@]}" \
  --outputs-file cdk-outputs.json
