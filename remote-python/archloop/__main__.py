from archloop.cli import main

raise SystemExit(main())
