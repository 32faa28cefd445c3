"""The device side: DDI (hawkBit) protocol, device credentials, presence, telemetry, live events."""
