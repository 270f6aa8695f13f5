target "app" {
  name = "app-${tgt}-${replace(item, ".", "-")}"
  matrix = {
    tgt  = ["release", "debug"]
    item = ["1.25", "1.26"]
  }
  target = tgt
  args   = { GO = item }
  tags   = ["app:${tgt}-${item}"]
}

target "single" {
  name   = "single-${v}"
  matrix = { v = ["x"] }
}

group "default" {
  targets = ["app"]
}
