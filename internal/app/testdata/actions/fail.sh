#!/bin/sh
# Test double of a broken remedy.
echo "cannot reach $1" >&2
exit 3
