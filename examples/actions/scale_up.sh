#!/bin/sh
# scale_up.sh GROUP FROM TO
#
# Example remediation script for the SmartCloudOps "script" action. It changes nothing: it checks
# its arguments and prints what a real scale-up script would do, so the demo can run it safely.
set -eu

if [ "$#" -ne 3 ]; then
	echo "usage: scale_up.sh GROUP FROM TO" >&2
	exit 2
fi

group=$1
from=$2
to=$3

case $from in '' | *[!0-9]*) echo "scale_up.sh: FROM must be a whole number, got '$from'" >&2; exit 2 ;; esac
case $to in '' | *[!0-9]*) echo "scale_up.sh: TO must be a whole number, got '$to'" >&2; exit 2 ;; esac

echo "scaling $group from $from to $to instances"
