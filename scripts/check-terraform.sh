#!/usr/bin/env bash
# check-terraform.sh checks the SmartCloudOps Terraform in terraform/: `terraform fmt -check
# -recursive` and `terraform validate` of every root configuration and module.
#
# It uses the terraform binary on PATH and never downloads one. Without terraform it says so and
# exits 0; validate needs the AWS provider, so when `terraform init` cannot install it (no network,
# no plugin cache) validate is skipped with a message. Set CHECK_TERRAFORM_REQUIRE=1 to turn both
# skips into failures (the GitHub workflow does; .ci/run cannot reach the provider registry).
# The Go test in terraform/ checks the policy rules (backend, tags, IAM, security group, state
# bucket) whether or not terraform is installed.
#
# Validation runs on a copy of terraform/ in a temporary directory, so `init` leaves no
# .terraform directories or lock files in the checkout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tf_dir="$root/terraform"
require="${CHECK_TERRAFORM_REQUIRE:-0}"

log() { printf 'check-terraform: %s\n' "$*" >&2; }

skip() {
	if [ "$require" = "1" ]; then
		log "FAILED: $*"
		exit 1
	fi
	log "SKIPPED: $*"
}

if ! command -v terraform >/dev/null 2>&1; then
	skip "terraform is not installed (it is not packaged in Debian; install it from HashiCorp or use hashicorp/setup-terraform in CI)"
	exit 0
fi

log "using $(terraform version | head -n1)"

log "terraform fmt -check -recursive terraform/"
if ! terraform fmt -check -recursive -diff "$tf_dir"; then
	log "files above are not formatted; run: terraform fmt -recursive terraform/"
	exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R "$tf_dir" "$work/terraform"
# Share downloaded providers between the directories validated below.
export TF_PLUGIN_CACHE_DIR="${TF_PLUGIN_CACHE_DIR:-$work/plugin-cache}"
mkdir -p "$TF_PLUGIN_CACHE_DIR"
export TF_IN_AUTOMATION=1

dirs=(production bootstrap modules/bot modules/bootstrap)
for d in "${dirs[@]}"; do
	dir="$work/terraform/$d"
	if [ ! -d "$dir" ]; then
		log "terraform/$d does not exist"
		exit 1
	fi
	log "terraform init -backend=false terraform/$d"
	if ! out="$(terraform -chdir="$dir" init -backend=false -input=false -no-color 2>&1)"; then
		if grep -qiE 'Failed to query available provider packages|could not connect|no such host|dial tcp|i/o timeout|Failed to install provider' <<<"$out"; then
			skip "terraform validate: the AWS provider could not be installed (offline?): $(grep -m1 -iE 'error' <<<"$out" || true)"
			exit 0
		fi
		printf '%s\n' "$out" >&2
		log "terraform init failed in terraform/$d"
		exit 1
	fi
	log "terraform validate terraform/$d"
	terraform -chdir="$dir" validate -no-color
done

log "all terraform checks passed"
