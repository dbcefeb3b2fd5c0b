package workload_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/remint-dev/remint/internal/sim/workload"
)

// A "bad image" for failover tests: the workload runs, but its health check fails, unless
// a server's metadata says otherwise.
func ExampleConfigFrom() {
	image := map[string]string{"remint_version": "2026.11.2", "remint_workload_health": "unhealthy"}
	bad, _ := workload.ConfigFrom(workload.Info{ServerID: "web-1"}, image, nil, nil)
	fixed, _ := workload.ConfigFrom(workload.Info{ServerID: "web-2"}, image,
		map[string]string{"remint_workload_health": "healthy"}, nil)
	slow, _ := workload.ConfigFrom(workload.Info{ServerID: "web-3"}, nil, nil,
		[]byte("#cloud-config\nremint_workload_start_delay: 2s\n"))
	fmt.Println(bad.ImageVersion, bad.Unhealthy)
	fmt.Println(fixed.ImageVersion, fixed.Unhealthy)
	fmt.Println(slow.StartDelay)
	// Output:
	// 2026.11.2 true
	// 2026.11.2 false
	// 2s
}

func ExampleHandler() {
	h := workload.Handler(workload.Info{ServerID: "web-1", ImageVersion: "2026.11.2"}, workload.Options{
		Now: func() time.Time { return time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC) },
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept", "text/plain")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Print(rec.Body.String())
	// Output:
	// server_id=web-1 server_name="" image_id="" image_name="" image_version=2026.11.2 hostname="" served_at=2026-11-22T06:00:00Z
}
