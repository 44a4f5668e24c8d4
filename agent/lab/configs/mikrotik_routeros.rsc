# 2024-03-05 08:14:22 by RouterOS 7.14.1
# software id = TSLC-D7K2
#
# model = CCR2004-1G-12S+2XS
# serial number = HGF09TSLCD1
/interface bridge
add comment="Department LANs" name=bridge-lan vlan-filtering=yes
/interface ethernet
set [ find default-name=ether1 ] comment="Out-of-band management"
set [ find default-name=sfp-sfpplus1 ] comment="WAN to Provincial Core"
set [ find default-name=sfp-sfpplus2 ] comment="WAN to DR site"
/interface wireguard
add comment="Tunnel to DR site" listen-port=13231 mtu=1420 name=wg-dr private-key=\
    "TslcdWgPrivKeyAAAAbbbbCCCCddddEEEEffff1234="
/interface vlan
add interface=bridge-lan name=vlan10-finance vlan-id=10
add interface=bridge-lan name=vlan20-health vlan-id=20
add interface=bridge-lan name=vlan100-mgmt vlan-id=100
/interface wireless security-profiles
set [ find default=yes ] supplicant-identity=MikroTik
add authentication-types=wpa2-psk mode=dynamic-keys name=tslcd-mgmt supplicant-identity="" \
    wpa-pre-shared-key=Tslcd-Ros-Wpa1-1001 wpa2-pre-shared-key=Tslcd-Ros-Wpa2-1002
/interface wifi security
add authentication-types=wpa2-psk,wpa3-psk name=sec-staff passphrase="Tslcd Ros Wifi 1003"
/interface list
add name=WAN
add name=LAN
/ip ipsec profile
add dh-group=modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 name=dr-profile
/ip ipsec peer
add address=198.51.100.20/32 exchange-mode=ike2 name=dr-site profile=dr-profile
/ip ipsec proposal
set [ find default=yes ] auth-algorithms=sha256 enc-algorithms=aes-256-cbc pfs-group=modp2048
/ip pool
add name=pool-finance ranges=10.70.10.100-10.70.10.200
/ip dhcp-server
add address-pool=pool-finance interface=vlan10-finance name=dhcp-finance
/ppp profile
set *FFFFFFFE local-address=10.70.254.1 remote-address=pool-finance
/routing bgp template
set default as=65040 disabled=no router-id=10.255.0.5
/routing ospf instance
add disabled=no name=ospf-1 router-id=10.255.0.5
/routing ospf area
add disabled=no instance=ospf-1 name=backbone
/snmp community
set [ find default=yes ] disabled=yes
add addresses=10.10.0.0/24 name=Tslcd-Ros-SnmpRO-1010
add addresses=10.10.0.50/32 authentication-password=Tslcd-Ros-SnmpAuth-1011 \
    authentication-protocol=SHA1 encryption-password=Tslcd-Ros-SnmpPriv-1012 \
    encryption-protocol=AES name=netmon-v3 security=private
/interface bridge port
add bridge=bridge-lan interface=ether2
add bridge=bridge-lan interface=ether3
/interface l2tp-server server
set enabled=yes ipsec-secret=Tslcd-Ros-L2tp-1006 use-ipsec=yes
/interface list member
add interface=sfp-sfpplus1 list=WAN
add interface=sfp-sfpplus2 list=WAN
add interface=bridge-lan list=LAN
/interface wireguard peers
add allowed-address=10.254.0.2/32 endpoint-address=198.51.100.21 endpoint-port=13231 \
    interface=wg-dr preshared-key="TslcdWgPsk0000111122223333444455556666=" public-key=\
    "pUbLiCkEyDrSiTe0000111122223333444455556666="
/ip address
add address=10.20.0.34/30 interface=sfp-sfpplus1 network=10.20.0.32
add address=10.20.0.38/30 interface=sfp-sfpplus2 network=10.20.0.36
add address=10.70.10.1/24 interface=vlan10-finance network=10.70.10.0
add address=10.70.20.1/24 interface=vlan20-health network=10.70.20.0
add address=10.10.100.5/24 interface=vlan100-mgmt network=10.10.100.0
add address=10.255.0.5 interface=lo network=10.255.0.5
/ip dhcp-server network
add address=10.70.10.0/24 dns-server=10.10.0.53 gateway=10.70.10.1
/ip dns
set servers=10.10.0.53
/ip firewall filter
add action=accept chain=input connection-state=established,related
add action=accept chain=input protocol=icmp
add action=accept chain=input src-address=10.10.0.0/24
add action=drop chain=input in-interface-list=WAN
/ip ipsec identity
add peer=dr-site secret=Tslcd-Ros-Ipsec-1004
/ip route
add distance=1 dst-address=0.0.0.0/0 gateway=10.20.0.33
/ip service
set telnet disabled=yes
set ftp disabled=yes
set www disabled=yes
set api disabled=yes
set api-ssl disabled=yes
/ppp secret
add name=branch-01 password=Tslcd-Ros-Ppp-1005 profile=default-encryption service=l2tp
add name=branch-02 password="Tslcd Ros Ppp Spaced 1015" profile=default-encryption \
    service=l2tp
/radius
add address=10.10.0.61 secret=Tslcd-Ros-Radius-1007 service=login,ppp
/routing bgp connection
add as=65040 local.role=ebgp name=core remote.address=10.20.0.33 .as=65000 \
    tcp-md5-key=Tslcd-Ros-Bgp-1009 templates=default
/routing ospf interface-template
add area=backbone auth=md5 auth-id=1 auth-key=Tslcd-Ros-Ospf-1008 interfaces=sfp-sfpplus1
add area=backbone interfaces=lo passive
/snmp
set contact=noc@net.tslcd.example enabled=yes location="Tinh uy - Phong may tang 3" \
    trap-community=Tslcd-Ros-Trap-1013 trap-generators=interfaces trap-target=10.10.0.50 \
    trap-version=2
/system clock
set time-zone-name=Asia/Ho_Chi_Minh
/system identity
set name=$hostname
/system logging action
add name=remote remote=10.10.0.70 target=remote
/system logging
add action=remote topics=info
/system ntp client
set enabled=yes
/system ntp client servers
add address=10.10.0.123
/tool e-mail
set from=router@net.tslcd.example password=Tslcd-Ros-Email-1014 port=587 server=10.10.0.25 \
    tls=starttls user=netmon
/tool romon
set enabled=yes secrets=Tslcd-Ros-Romon-1016
