# ndproxy — run `make demo` or `make test` as root on Debian 12 with Go installed.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
SHELL   := /bin/bash
GOFLAGS_BUILD = -trimpath -ldflags "-s -w -X main.version=$(VERSION)"
BIN     = bin/ndproxy

# Debian packages the tests and the demo drive for real.
DEB_PACKAGES = gcc libc6-dev busybox iproute2 iputils-ping netcat-openbsd procps radvd ndisc6 shellcheck \
	dbus nftables iptables systemd-container lintian \
	avahi-daemon avahi-utils wireguard-go wireguard-tools

# OpenWrt arch = GOARCH and friends (openwrt/packages lang/golang/golang-values.mk).
# MIPS must be softfloat: OpenWrt kernels kill hardfloat binaries.
ARCHES = x86_64 aarch64_cortex-a53 aarch64_generic arm_cortex-a7_neon-vfpv4 mipsel_24kc mips_24kc
goenv_x86_64                   = GOARCH=amd64 GOAMD64=v1
goenv_aarch64_cortex-a53       = GOARCH=arm64
goenv_aarch64_generic          = GOARCH=arm64
goenv_arm_cortex-a7_neon-vfpv4 = GOARCH=arm GOARM=7
goenv_mipsel_24kc              = GOARCH=mipsle GOMIPS=softfloat
goenv_mips_24kc                = GOARCH=mips GOMIPS=softfloat

SHELL_SCRIPTS = test/demo.sh .ci/run packaging/ipk.sh packaging/testdata/rc.common.shim \
	packaging/deb/deb.sh packaging/deb/install.sh packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm \
	packaging/deb/testdata/container.sh

.PHONY: all build deps test unit lint demo cross ipk fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/ndproxy

# deps installs what a fresh Debian 12 lacks; it needs root only when
# something is missing.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	$(GO) mod download

# test runs everything: lint, unit tests with the race detector, fuzz seed
# corpora, and the network-namespace scenarios (they need root and skip
# without it, saying so).
test: deps lint luci-test
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v '/test$$')
	$(GO) test -count=1 -timeout 30m -parallel 4 -v ./test/

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/test$$')

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	shellcheck $(SHELL_SCRIPTS)
	shellcheck -s sh $$(find files -type f -path '*/init.d/*' -o -type f -path '*/hotplug.d/*' 2>/dev/null) /dev/null

demo: deps build
	test/demo.sh $(BIN)

cross:
	@mkdir -p dist
	@for a in $(ARCHES); do \
		case $$a in \
		x86_64) env='$(goenv_x86_64)';; \
		aarch64_cortex-a53) env='$(goenv_aarch64_cortex-a53)';; \
		aarch64_generic) env='$(goenv_aarch64_generic)';; \
		arm_cortex-a7_neon-vfpv4) env='$(goenv_arm_cortex-a7_neon-vfpv4)';; \
		mipsel_24kc) env='$(goenv_mipsel_24kc)';; \
		mips_24kc) env='$(goenv_mips_24kc)';; \
		esac; \
		env CGO_ENABLED=0 GOOS=linux $$env $(GO) build -tags openwrt $(GOFLAGS_BUILD) -o dist/$$a/ndproxy ./cmd/ndproxy || exit 1; \
		printf '%-26s %s  %s bytes\n' $$a "$$env" $$(stat -c %s dist/$$a/ndproxy); \
	done

# ipk packs each binary of `cross` into dist/ndproxy_<version>_<arch>.ipk
# and luci-app/ into dist/luci-app-ndproxy_<version>_all.ipk, for opkg
# (OpenWrt 24.10 and older), then checks every package it wrote.
# Entries carry SOURCE_DATE_EPOCH, by default the commit time, so that the
# same commit packs to the same bytes.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
ipk: cross
	@SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) VERSION=$(VERSION) packaging/ipk.sh dist $(ARCHES)
	@NDPROXY_IPK_DIR=$(CURDIR)/dist NDPROXY_IPK_ARCHES='$(ARCHES)' NDPROXY_IPK_EPOCH=$(SOURCE_DATE_EPOCH) \
		$(GO) test -count=1 -run '^TestBuiltIPKs$$' ./packaging

# fuzz runs every fuzz target for FUZZTIME each (the seed corpora alone run in `make test`).
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin dist

# bench measures ndproxy, Debian's ndppd and the kernel's own proxy entries
# side by side on a namespace lab (test/bench; root, about four minutes),
# prints the tables and writes them into docs/benchmarks.md. Run it on a quiet
# machine. Not part of `make test`. BENCHFLAGS=-quick checks that the bench
# works in about a minute and leaves the document alone.
BENCHFLAGS ?=
.PHONY: bench
bench: deps
	@dpkg-query -W -f='$${Status}\n' ndppd 2>/dev/null | grep -q '^install ok installed' || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ndppd; }
	$(GO) test -tags bench -count=1 -timeout 30m -run '^TestBench(RA|MDNS)?$$' -v ./test/bench \
		-args -doc=$(CURDIR)/docs/benchmarks.md $(BENCHFLAGS)

# install puts the plain Linux service in place (packaging/deb/install.sh):
# $(PREFIX)/sbin/ndproxy, the systemd unit, the D-Bus policy, and
# /etc/config/ndproxy unless it exists. DESTDIR stages it elsewhere. Then:
# systemctl daemon-reload; systemctl enable --now ndproxy (docs/linux.md).
PREFIX ?= /usr
.PHONY: install deb
install: build
	@DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' packaging/deb/install.sh $(BIN)
	@echo "installed under $(DESTDIR)$(PREFIX); now: systemctl daemon-reload && systemctl enable --now ndproxy"

# deb builds dist/ndproxy_<version>_<debarch>.deb for each of DEB_ARCHES
# (default: this machine's; Raspberry Pi OS is armhf or arm64), then checks
# every package it wrote (TestBuiltDebs). armhf is built for ARMv6, which
# Raspberry Pi OS's armhf is, so that it also runs on a Pi Zero or 1.
DEB_ARCHES ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
deb:
	@for a in $(DEB_ARCHES); do \
		case $$a in \
		amd64) env='GOARCH=amd64 GOAMD64=v1';; \
		arm64) env='GOARCH=arm64';; \
		armhf) env='GOARCH=arm GOARM=6';; \
		i386) env='GOARCH=386';; \
		riscv64) env='GOARCH=riscv64';; \
		*) echo "deb: no Go target for Debian architecture $$a" >&2; exit 1;; \
		esac; \
		env CGO_ENABLED=0 GOOS=linux $$env $(GO) build $(GOFLAGS_BUILD) -o dist/deb/$$a/ndproxy ./cmd/ndproxy || exit 1; \
	done
	@SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) VERSION=$(VERSION) packaging/deb/deb.sh dist $(DEB_ARCHES)
	@NDPROXY_DEB_DIR=$(CURDIR)/dist NDPROXY_DEB_ARCHES='$(DEB_ARCHES)' \
		$(GO) test -count=1 -run '^TestBuiltDebs$$' ./packaging/deb

# luci-test checks the LuCI app (luci-app/): syntax, the ACL against the views
# and internal/daemon.UbusMethods, the .pot, and both views in headless
# Chromium against a LuCI stand-in (screenshots in test/luci/out/).
LUCI_DEB_PACKAGES = chromium gettext
.PHONY: luci-test
luci-test:
	@missing=$$(for p in $(LUCI_DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	node --test test/luci/*.test.mjs
