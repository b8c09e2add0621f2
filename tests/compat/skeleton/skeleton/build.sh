#!/bin/sh
echo "building ${{ values.name }}"
