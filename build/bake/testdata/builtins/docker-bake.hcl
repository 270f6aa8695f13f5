target "default" {
  context = BAKE_CMD_CONTEXT
  args = { CTX = BAKE_CMD_CONTEXT }
  tags = ["a:${BAKE_CMD_CONTEXT == "cwd://" ? "local" : "remote"}"]
}
