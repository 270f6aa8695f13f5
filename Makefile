# docker-build2: every target is a one-liner over a hack/ script.
.PHONY: build install demo image test test-unit test-integration test-e2e bench soak chaos lint validate docs

build:
	hack/build

install:
	hack/install

demo: install
	hack/demo

image:
	hack/image

test:
	hack/test all

test-unit:
	hack/test unit

test-integration:
	hack/test integration

test-e2e:
	hack/test e2e

soak:
	hack/soak

chaos:
	hack/chaos

bench:
	bench/run

lint:
	hack/lint

validate: lint
	hack/validate

docs:
	go run ./hack/docsgen
