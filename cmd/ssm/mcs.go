package main

import (
	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/generate"
)

const catMCS = "Multi-Cluster Services API (--api mcs)"

// mcsFlags choose what is rendered, and how the Multi-Cluster Services API
// is: render and run share them.
func mcsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "api", Category: catMCS, EnvVars: env("api"), Value: string(generate.APIMirrors),
			Usage: "what is rendered: mirrors (semaphore-style mirrors, ssm's names) or mcs (the Multi-Cluster Services API: a ServiceImport per exported Service in its own namespace, EndpointSlices per cluster, answered by CoreDNS as <name>.<namespace>.svc.clusterset.local; docs/mcs.md) (overrides global.api)"},
		&cli.StringSliceFlag{Name: "clusterset-ip-range", Category: catMCS, EnvVars: env("clusterset-ip-range"),
			Usage: "`CIDR` of the local Service CIDR (or a ServiceCIDR) reserved for the ClusterSetIPs ssm pins, one IPv4 and one IPv6 for dual-stack (required with --api mcs; overrides global.mcs.clusterSetIPRanges)"},
		&cli.BoolFlag{Name: "service-exports", Category: catMCS, EnvVars: env("service-exports"), Value: true,
			Usage: "export only the Services a ServiceExport of their cluster names (read, never written: ssm cannot set its status); false exports every Service --label-selector selects (overrides global.mcs.serviceExports)"},
		&cli.StringFlag{Name: "traffic-distribution", Category: catMCS, EnvVars: env("traffic-distribution"),
			Usage: "spec.trafficDistribution of the derived Services and ServiceImports: PreferClose or PreferSameZone; with --keep-zones each endpoint is hinted for its own zone, which kube-proxy routes by (overrides global.mcs.trafficDistribution)"},
		&cli.BoolFlag{Name: "keep-zones", Category: catMCS, EnvVars: env("keep-zones"),
			Usage: "keep the remote endpoints' zones, for clusters that share zone names (overrides global.mcs.keepZones)"},
	}
}

// mcsOverrides sets the MCS flags given on ov.
func mcsOverrides(c *cli.Context, ov *config.Overrides) {
	ov.API = given(c, "api", c.String)
	ov.ClusterSetIPRanges = given(c, "clusterset-ip-range", c.StringSlice)
	ov.ServiceExports = given(c, "service-exports", c.Bool)
	ov.TrafficDistribution = given(c, "traffic-distribution", c.String)
	ov.KeepZones = given(c, "keep-zones", c.Bool)
}
