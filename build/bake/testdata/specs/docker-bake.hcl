target "default" {
  output = [
    { type = "local", dest = "out" },
    "type=image,\"name=a,b\",push=true",
    "out2",
    "-",
  ]
  cache-from = [
    { type = "registry", ref = "user/cache" },
    "ref1,ref2",
    "type=local,src=path",
    "ref1",
  ]
  cache-to = [{ type = "inline" }]
  secret = [
    { id = "a", src = "a.txt" },
    "id=b,type=env",
    "type=env,id=c,src=C",
  ]
  ssh = [
    { id = "default" },
    { id = "key", paths = ["a", "b"] },
    "other=a",
  ]
  attest = [
    { type = "sbom", generator = "img" },
    "type=provenance,mode=max",
    { type = "sbom", disabled = true },
  ]
  labels = { interp = "$${HOME}" }
  dockerfile-inline = "FROM alpine\nRUN echo $${X} %%{y}\n"
}
