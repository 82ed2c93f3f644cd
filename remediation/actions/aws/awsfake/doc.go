// Package awsfake is a loopback fake of the AWS APIs that the SmartCloudOps AWS actions call:
// AutoScaling and EC2 (AWS Query protocol: form-encoded Action=..., XML responses) and ECS and SSM
// (AWS JSON 1.1: X-Amz-Target header, JSON bodies).
//
// It exists for tests of the remediation flow (sources → detector → incidents → rules →
// remediation → notifier/bot adapters): the AWS actions and the end-to-end tests point the real
// aws-sdk-go-v2 clients at it with a base-endpoint override, so serialisation, signing, retries
// and error decoding are all exercised.
//
// Every request must carry a valid Signature Version 4 signature made with TestAccessKeyID and
// TestSecretAccessKey; the fake recomputes it (canonical request, string to sign, signing key)
// and refuses a mismatch with the error shape the real service uses. One server answers all four
// services, routing by the service name in the signature's credential scope.
//
// State lives in memory and is seeded through Put* methods: Auto Scaling groups with
// min/max/desired, ECS services, EC2 instances, SSM parameters, and SSM command invocations
// that finish after a configurable number of polls (ListCommands finds them again by time,
// instance and comment). Faults (access denied, throttling, any code) can be injected per
// operation, before the operation or after it took effect (FailAfterEffect, DropAfterEffect), as
// AWS sometimes answers 500 or loses the connection for a change it made. Every request is
// recorded for assertions.
//
// The server listens on 127.0.0.1 only and is safe for concurrent use.
package awsfake
