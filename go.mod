module github.com/ndproxy/ndproxy

go 1.22

require (
	github.com/digineo/go-uci v0.0.0-20210918132103-37c7b10c14fa
	github.com/godbus/dbus/v5 v5.2.2
	github.com/google/go-cmp v0.6.0
	github.com/mdlayher/ndp v1.1.0
	github.com/vishvananda/netlink v1.3.1
	golang.org/x/crypto v0.31.0
	golang.org/x/net v0.33.0
	golang.org/x/sys v0.28.0
)

require (
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/text v0.21.0 // indirect
)
