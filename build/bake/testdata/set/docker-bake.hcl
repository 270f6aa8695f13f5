target "a" {
  tags      = ["a:1"]
  platforms = ["linux/amd64"]
  output    = ["type=image,name=a"]
  cache-from = ["a/cache"]
  secret    = ["id=s1,src=s1.txt"]
  ssh       = ["default"]
  attest    = ["type=provenance,mode=min"]
  args      = { A = "1" }
}
target "b" {
  tags   = ["b:1"]
  output = ["type=registry"]
}
target "c" {
  output = ["type=docker"]
}
