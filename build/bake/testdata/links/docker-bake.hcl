target "base" {
  dockerfile = "base.Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
  entitlements = ["network.host"]
}
target "mid" {
  contexts  = { base = "target:base" }
  platforms = ["linux/amd64"]
}
target "app" {
  contexts  = { mid = "target:mid", img = "docker-image://busybox" }
}
