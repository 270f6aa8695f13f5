package usernet

import (
	"bufio"
	"net"
	"os"
	"strings"
)

// HostAddr is the address by which RUN steps reach the host
// (--add-host NAME:host-gateway): the host's IPv4 address on the interface
// of its default route. A step connects to it through slirp4netns as a
// process of the host would, so services bound to all the host's
// addresses answer while those bound to its loopback only stay out of
// reach, as behind a Docker engine's bridge. A host with no default route
// gets 127.0.0.1, which only --network=host steps reach.
func HostAddr() string {
	if iface := defaultRouteInterface("/proc/net/route"); iface != "" {
		if ip := interfaceIPv4(iface); ip != "" {
			return ip
		}
	}
	return "127.0.0.1"
}

// defaultRouteInterface reads the kernel's IPv4 routing table for the
// interface of the default route (destination and mask 0).
func defaultRouteInterface(table string) string {
	f, err := os.Open(table)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		fields := strings.Fields(sc.Text())
		if len(fields) >= 8 && fields[1] == "00000000" && fields[7] == "00000000" {
			return fields[0]
		}
	}
	return ""
}

func interfaceIPv4(name string) string {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return ""
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
			return ipn.IP.String()
		}
	}
	return ""
}
