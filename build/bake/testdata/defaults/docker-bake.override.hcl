target "svc" {
  args = { OVERRIDE = "1" }
}
