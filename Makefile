.PHONY: run demo test build fuzz generate

# Run Serambi on the embedded database, console on http://127.0.0.1:8080.
run:
	go run ./cmd/serambi

# The demo shop: seeded data, demo logins and simulated customers (README).
demo:
	go run ./cmd/serambi demo

# Everything CI runs: installs test peers if missing, gofmt, vet, templ check, all tests, bounded fuzzing.
test:
	scripts/test

build:
	go build -o serambi ./cmd/serambi

generate:
	go tool templ generate
