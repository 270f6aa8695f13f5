target "base" {
  policy = ["filename=base.rego,strict=true"]
}

target "app" {
  inherits = ["base"]
  policy = [
    { filename = "app.rego", log-level = "debug" },
    "reset=true,filename=cwd://ci.rego",
  ]
}

target "open" {
  policy = [{ disabled = true }]
}
