// Command healthcheck is the container health check of the aspm images, which have no shell,
// wget or curl: it GETs each URL given and exits 0 when every one answers 2xx within the
// timeout, 1 otherwise (printing why), as Docker's HEALTHCHECK and compose's healthcheck expect.
//
//	healthcheck http://127.0.0.1:8080/readyz
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	timeout := flag.Duration("timeout", 3*time.Second, "time allowed for each request")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: healthcheck [-timeout 3s] URL...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	for _, u := range flag.Args() {
		if err := check(context.Background(), u, *timeout); err != nil {
			fmt.Fprintf(os.Stderr, "healthcheck: %v\n", err)
			os.Exit(1)
		}
	}
}

// check GETs url and returns an error unless it answers 2xx within timeout.
func check(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return nil
}
