variable "TAG" {
  default     = "latest"
  description = "Image tag"
}

variable "PLATFORMS" {
  type    = list(string)
  default = ["linux/amd64"]
}

variable "DEBUG" {
  type    = bool
  default = false
}

variable "REPLICAS" {
  type    = number
  default = 1
  validation {
    condition     = REPLICAS > 0
    error_message = "REPLICAS must be positive."
  }
}

variable "CONFIG" {
  type    = map(string)
  default = { a = "1" }
}

variable "UNSET" {}

variable "NULLED" {
  type = string
}

variable "FROM_ENV" {
  default = "default"
}

variable "HOME_DIR" {
  default = "${FROM_ENV}/home"
}

function "tag" {
  params   = [name, tag]
  result   = "example/${name}:${tag}"
}

function "upper_all" {
  params          = [first]
  variadic_params = rest
  result          = [for s in concat([first], rest) : upper(s)]
}

target "default" {
  tags      = [tag("app", TAG), notequal("", UNSET) ? "unset" : "set-empty"]
  platforms = PLATFORMS
  args = {
    DEBUG    = DEBUG ? "1" : "0"
    REPLICAS = REPLICAS * 2
    CONFIG   = jsonencode(CONFIG)
    HOME_DIR = HOME_DIR
    UPPER    = join(",", upper_all("a", "b", "c"))
    TRIMMED  = trimprefix("v1.2.3", "v")
    SEMVER   = semvercmp("1.2.3", ">= 1.0.0") ? "new" : "old"
    DEFAULTED = coalesce(NULLED, "fallback")
    FORMATTED = format("%s-%03d", "build", 7)
  }
}
