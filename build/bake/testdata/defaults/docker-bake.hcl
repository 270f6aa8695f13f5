target "svc" {
  tags = ["from-hcl"]
}
target "other" {}
