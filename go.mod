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
	golang.zx2c4.com/wireguard/wgctrl v0.0.0-20241231184526-a9ab2273dd10
)

require (
	github.com/josharian/native v1.1.0 // indirect
	github.com/mdlayher/genetlink v1.3.2 // indirect
	github.com/mdlayher/netlink v1.7.2 // indirect
	github.com/mdlayher/socket v0.5.1 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/sync v0.10.0 // indirect
	golang.org/x/text v0.21.0 // indirect
	golang.zx2c4.com/wireguard v0.0.0-20231211153847-12269c276173 // indirect
)
