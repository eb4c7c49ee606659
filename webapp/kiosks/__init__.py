"""Branch kiosks: enrolled shared devices that show rotating check-in codes and take PINs
(contract §3.2; docs/kiosk.md)."""
