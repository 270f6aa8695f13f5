target "_common" {
  args      = { A = "common", B = "common" }
  labels    = { team = "core" }
  platforms = ["linux/amd64"]
  tags      = ["common"]
  cache-from = ["type=registry,ref=cache/common"]
  secret    = ["id=token,env=TOKEN"]
  annotations = ["a=1"]
}

target "_os" {
  args      = { B = "os", C = "os" }
  platforms = ["linux/arm64"]
  cache-from = ["type=gha"]
  secret    = ["id=token,src=token.txt", "id=other,env=OTHER"]
}

target "base" {
  inherits = ["_common", "_os"]
  dockerfile = "base.Dockerfile"
  annotations = ["b=2"]
}

target "app" {
  inherits = ["base"]
  args     = { C = "app" }
  tags     = ["app"]
}

target "app2" {
  inherits = ["app", "_common"]
}
