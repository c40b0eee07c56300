"""gpiozero buttons and LEDs: gestures, light patterns and the virtual panel."""
