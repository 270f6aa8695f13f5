group "default" {
  targets = ["app", "tools"]
}

group "tools" {
  description = "Developer tools"
  targets     = ["lint", "test"]
}

target "app" {
  description       = "The application"
  context           = "./app/"
  dockerfile        = "build/Dockerfile"
  target            = "runtime"
  args              = { GO_VERSION = "1.26", EMPTY = "" }
  labels            = { "org.opencontainers.image.title" = "app" }
  tags              = ["example/app:latest", "example/app:1", "example/app:latest"]
  platforms         = ["linux/amd64", "linux/arm64"]
  annotations       = ["index:org.opencontainers.image.vendor=example"]
  pull              = true
  no-cache          = false
  network           = "host"
  no-cache-filter   = ["build"]
  shm-size          = "128m"
  ulimits           = ["nofile=1024:1024"]
  call              = "build"
  entitlements      = ["security.insecure"]
  extra-hosts       = { "db" = "10.0.0.2" }
  contexts          = { src = "./src", alpine = "docker-image://alpine:3.22" }
}

target "lint" {
  dockerfile-inline = "FROM alpine\nRUN echo lint\n"
  call              = "check"
}

target "test" {
  context = "cwd://test/.."
  target  = "test"
}

target "_private" {
  description = "not listed"
}
