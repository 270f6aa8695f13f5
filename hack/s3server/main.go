// Command s3server serves an in-memory S3 API (gofakes3) on 127.0.0.1 for
// the e2e tests of the s3 cache backend. It writes its address, host:port,
// to the file -addr-file once it listens, and serves until killed; buckets
// are made on first use.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	addrFile := flag.String("addr-file", "", "file the listening address is written to")
	flag.Parse()
	if err := run(*addrFile); err != nil {
		log.Fatal(err)
	}
}

func run(addrFile string) error {
	if addrFile == "" {
		return fmt.Errorf("-addr-file is required")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	faker := gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true), gofakes3.WithLogger(gofakes3.DiscardLog()))
	tmp := addrFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(lis.Addr().String()), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, addrFile); err != nil {
		return err
	}
	return http.Serve(lis, faker.Server())
}
