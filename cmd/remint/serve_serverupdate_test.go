package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackitcloud/stackit-sdk-go/core/config"
	"github.com/stackitcloud/stackit-sdk-go/core/oapierror"
	"github.com/stackitcloud/stackit-sdk-go/services/serverupdate"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/orchestrator"
)

// STACKIT's SDK drives a real `remint serve` on the simulator (loopback driver): the
// update service of a server of group web is enabled (its Default Update Schedule
// appears), an update with a 2h window is created, the update job asks the policy, which
// rebuilds that server's slot only (the other slot keeps its server), and the update read
// back through the SDK has succeeded with its dates and one update installed; the
// replacement, and the replaced server's id, still show the slot's history and schedule.
func TestServeServerUpdateAPIWithTheSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, 0)
	w.register("debian-12-a")
	deploy := w.start(nil, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)
	version := w.register("debian-12-b")
	before := w.show()
	require.Len(t, before.Slots, 2)
	target, other := before.Slots[0], before.Slots[1]

	p, url := w.startServe(nil)
	project, err := w.os.ProjectID()
	require.NoError(t, err)
	c, err := serverupdate.NewAPIClient(config.WithEndpoint(url), config.WithToken(w.token()))
	require.NoError(t, err)
	ctx := context.Background()

	require.NoError(t, c.EnableServiceResource(ctx, project, target.ServerID).Execute())
	svc, err := c.GetServiceResource(ctx, project, target.ServerID).Execute()
	require.NoError(t, err)
	require.True(t, *svc.Enabled)
	scheds, err := c.ListUpdateSchedules(ctx, project, target.ServerID).Execute()
	require.NoError(t, err)
	require.Len(t, *scheds.Items, 1)
	require.Equal(t, "Default Update Schedule", *(*scheds.Items)[0].Name)
	require.Equal(t, orchestrator.DefaultPolicy(target.ServerID, nil).RRule, *(*scheds.Items)[0].Rrule)

	_, err = c.CreateUpdate(ctx, project, target.ServerID).CreateUpdatePayload(serverupdate.CreateUpdatePayload{
		MaintenanceWindow: serverupdate.PtrInt64(25)}).Execute()
	var oe *oapierror.GenericOpenAPIError
	require.True(t, errors.As(err, &oe), "%v", err)
	require.Equal(t, http.StatusBadRequest, oe.StatusCode)
	require.Contains(t, string(oe.Body), "maintenanceWindow 25: want hours, 1 to 24")
	_, err = c.ListUpdates(ctx, project, "not-a-server").Execute()
	require.True(t, errors.As(err, &oe), "%v", err)
	require.Equal(t, http.StatusNotFound, oe.StatusCode)

	created, err := c.CreateUpdate(ctx, project, target.ServerID).CreateUpdatePayload(serverupdate.CreateUpdatePayload{
		MaintenanceWindow: serverupdate.PtrInt64(2)}).Execute()
	require.NoError(t, err)
	id := strconv.FormatInt(*created.Id, 10)
	var u *serverupdate.Update
	require.Eventually(t, func() bool {
		u, err = c.GetUpdate(ctx, project, target.ServerID, id).Execute()
		return err == nil && (*u.Status == orchestrator.StatusSucceeded || *u.Status == orchestrator.StatusFailed)
	}, 2*time.Minute, 100*time.Millisecond, "%s", p)
	require.Equal(t, orchestrator.StatusSucceeded, *u.Status, "reason %v; %s", u.FailReason, p)
	require.Equal(t, int64(1), *u.InstalledUpdates, "one slot replaced")
	require.Equal(t, int64(0), *u.FailedUpdates)
	start, err := time.Parse(time.RFC3339, *u.StartDate)
	require.NoError(t, err)
	end, err := time.Parse(time.RFC3339, *u.EndDate)
	require.NoError(t, err)
	require.False(t, end.Before(start))

	list, err := c.ListUpdates(ctx, project, target.ServerID).Execute()
	require.NoError(t, err)
	require.Len(t, *list.Items, 1)
	require.Equal(t, *created.Id, *(*list.Items)[0].Id)

	job, err := w.client(url).Get(ctx, *created.Id)
	require.NoError(t, err)
	require.Equal(t, "web/0", job.Target, "the update targets the server's slot")
	require.Equal(t, "token admin", job.RequestedBy, "the SDK's bearer token names who asked")
	require.Contains(t, strings.Join(job.Decisions, "\n"), "path: rebuild of slot 0 of group web only")

	after := w.show()
	require.Len(t, after.Slots, 2)
	require.NotEqual(t, target.ServerID, after.Slots[0].ServerID, "slot 0 has a new server")
	require.Equal(t, version, after.Slots[0].ImageVersion)
	require.Equal(t, other.ServerID, after.Slots[1].ServerID, "slot 1 kept its server")
	require.Equal(t, other.ImageVersion, after.Slots[1].ImageVersion)
	// The replacement carries on the slot's history and schedules; the replaced server's
	// id still finds them.
	for _, id := range []string{target.ServerID, after.Slots[0].ServerID} {
		list, err := c.ListUpdates(ctx, project, id).Execute()
		require.NoError(t, err, id)
		require.Len(t, *list.Items, 1, id)
		scheds, err := c.ListUpdateSchedules(ctx, project, id).Execute()
		require.NoError(t, err, id)
		require.Len(t, *scheds.Items, 1, id)
	}
	list, err = c.ListUpdates(ctx, project, other.ServerID).Execute()
	require.NoError(t, err)
	require.Empty(t, *list.Items, "the other slot had no update")
}
