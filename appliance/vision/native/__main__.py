"""`python -m appliance.vision.native [--force]`: build the image kernel."""

from appliance.vision.native import main

raise SystemExit(main())
