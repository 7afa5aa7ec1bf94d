from homeroom.cli import main

raise SystemExit(main())
